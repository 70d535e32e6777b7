# Seed fragment "client_state": the seed shows only the if/else below, which belongs inside a
# WebSocket handler. It is placed verbatim (indented) inside a minimal handler, twice: once while
# the client is connected (prints "Connected") and once after the client has left (prints
# "Disconnected"). Everything outside the marked blocks is added so that the fragment runs.
from fastrapi import FastrAPI

app = FastrAPI()


@app.websocket("/ws")
async def handler(ws):
    await ws.accept()
    # --- seed fragment, verbatim ---
    if ws.client_state == 1:
        print("Connected")
    else:
        print("Disconnected")
    # --- end of seed fragment ---
    try:
        await ws.receive_text()  # wait until the client leaves
    except ConnectionError:
        pass
    # --- seed fragment, verbatim ---
    if ws.client_state == 1:
        print("Connected")
    else:
        print("Disconnected")
    # --- end of seed fragment ---
