# Seed fragment "receive_text()": the seed shows only these lines, which belong inside a WebSocket
# handler. They are placed verbatim (indented) inside a minimal handler; everything outside the
# marked block is added so that the fragment runs.
from fastrapi import FastrAPI

app = FastrAPI()


@app.websocket("/ws")
async def handler(ws):
    await ws.accept()
    # --- seed fragment, verbatim ---
    message = await ws.receive_text()
    print(f"Client said: {message}")
    # --- end of seed fragment ---
