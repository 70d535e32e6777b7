# Seed example "accept()": the handler below is copied verbatim from the seed.
# --- added (not in the seed): import and app so that the snippet runs ---
from fastrapi import FastrAPI

app = FastrAPI()
# --- end of added lines; the rest is the seed snippet, verbatim ---

@app.websocket("/ws")
async def handler(ws):
    await ws.accept()  # Accept the connection
    # Now you can send/receive messages
