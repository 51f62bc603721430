"""The benchmark's baseline: a FastAPI endpoint that only answers 200, run the way the bot is (uvicorn)."""

import os

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.post("/telegram/webhook")
async def webhook() -> dict[str, bool]:
    return {"ok": True}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
