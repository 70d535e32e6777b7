# Seed fragment "send_bytes()": the seed shows only these lines, which belong inside a WebSocket
# handler. They are placed verbatim (indented) inside a minimal handler; everything outside the
# marked block is added so that the fragment runs.
from fastrapi import FastrAPI

app = FastrAPI()


@app.websocket("/ws")
async def handler(ws):
    await ws.accept()
    # --- seed fragment, verbatim ---
    binary_data = b"\x00\x01\x02\x03"
    await ws.send_bytes(binary_data)
    # --- end of seed fragment ---
