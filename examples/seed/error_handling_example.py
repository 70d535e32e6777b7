# Seed example "Error handling": the handler below is copied verbatim from the seed.
# --- added (not in the seed): import and app so that the snippet runs ---
from fastrapi import FastrAPI

app = FastrAPI()
# --- end of added lines; the rest is the seed snippet, verbatim ---

@app.websocket("/ws")
async def handler(ws):
    await ws.accept()
    
    try:
        while True:
            message = await ws.receive_text()
            await ws.send_text(f"Echo: {message}")
    except ConnectionError:
        print("Client disconnected")
    except Exception as e:
        print(f"Error: {e}")
        await ws.close()
