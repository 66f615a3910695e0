"""Drives a running openrouter-proxy with the official OpenAI Python SDK.

Usage: python scripts/sdk_check.py http://127.0.0.1:5000/v1
Lists models, then completes one chat without and one with streaming. Exits non-zero on any
failure. scripts/sdk-check starts the proxy in --demo mode and runs this against it.
"""

import sys

from openai import OpenAI


def main(base_url: str) -> None:
    client = OpenAI(base_url=base_url, api_key="anything", max_retries=0, timeout=30)

    models = client.models.list()
    ids = [m.id for m in models.data]
    assert ids, "no models listed"
    assert any(i.endswith(":free") for i in ids), "no free model listed"
    print(f"models.list: {len(ids)} models")

    reply = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "Say hello"}]
    )
    text = reply.choices[0].message.content
    assert text, f"empty answer: {reply}"
    print(f"chat: {reply.model}: {text!r}")

    stream = client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Say hello"}],
        stream=True,
    )
    parts = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    streamed = "".join(parts)
    assert len(parts) > 1 and streamed, f"stream did not arrive in parts: {parts}"
    print(f"chat stream: {len(parts)} parts: {streamed!r}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000/v1")
