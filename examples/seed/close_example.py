# Seed fragment "close()": the seed shows only these lines, which belong inside a WebSocket
# handler. They are placed verbatim (indented) inside a minimal handler; everything outside the
# marked block is added so that the fragment runs.
from fastrapi import FastrAPI

app = FastrAPI()


@app.websocket("/ws")
async def handler(ws):
    await ws.accept()
    # --- seed fragment, verbatim ---
    await ws.close()
    # Or with a specific close code
    await ws.close(1000)  # Normal closure
    # --- end of seed fragment ---
