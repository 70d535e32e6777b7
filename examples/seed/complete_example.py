from fastrapi import FastrAPI

app = FastrAPI()

@app.websocket("/ws")
async def websocket_endpoint(ws):
    await ws.accept()
    
    try:
        while ws.client_state == 1:
            # Receive a message
            data = await ws.receive_text()
            print(f"Client said: {data}")
            
            # Send a JSON response
            await ws.send_json({
                "reply": "Message received",
                "echo": data
            })
            
    except Exception as e:
        print(f"Connection closed: {e}")
    finally:
        await ws.close()

if __name__ == "__main__":
    app.serve(host="0.0.0.0", port=8000)
