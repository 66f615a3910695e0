"""Drives a running openrouter-proxy with the official OpenAI and Anthropic Python SDKs and the
OpenAI Agents SDK.

Usage: python scripts/sdk_check.py http://127.0.0.1:5000/v1
OpenAI SDK: models.list and models.retrieve, chat completions (whole, streamed, JSON output, a
tool call), the Responses API (responses.create, responses.stream, a tool call), and a client
with max_retries=2 against a failing model: one SDK call must make one request to the proxy,
so OpenRouter sees only the proxy's own attempts. Anthropic SDK: models.list,
messages.create, messages.stream, count_tokens, a tool use, and a 429 raising RateLimitError.
OpenAI Agents SDK (the Responses API): an agent that calls a tool, then answers.
Exits non-zero on any failure. scripts/sdk-check starts the proxy in --demo mode and runs this;
the demo's fake OpenRouter answers a request containing [demo:429] or [demo:503] with that
error.
"""

import json
import sys

import anthropic
import openai

try:  # the SDKs' HTTP client: httpx2 in their newer releases, httpx before
    import httpx2 as httpx
except ImportError:
    import httpx
from anthropic import Anthropic
from openai import OpenAI

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def counting_client():
    """An httpx client that counts the requests an SDK sends (its tries)."""
    tries = []
    client = httpx.Client(event_hooks={"request": [tries.append]}, timeout=30)
    return client, tries


def check_openai(base_url: str) -> None:
    client = OpenAI(base_url=base_url, api_key="anything", max_retries=0, timeout=30)

    models = client.models.list()
    ids = [m.id for m in models.data]
    assert ids, "no models listed"
    free = [i for i in ids if i.endswith(":free") and "/" in i]
    assert free, "no free model listed"
    print(f"models.list: {len(ids)} models")
    one = client.models.retrieve(free[0])
    assert one.id == free[0], one
    print(f"models.retrieve: {one.id}")

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

    reply = client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Answer in JSON"}],
        response_format={"type": "json_object"},
    )
    answer = json.loads(reply.choices[0].message.content)
    print(f"chat JSON: {answer}")

    reply = client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[{"type": "function", "function": {"name": "weather", "parameters": WEATHER}}],
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "weather", call
    print(f"chat tool call: {call.function.name}({call.function.arguments})")

    response = client.responses.create(model="auto", input="Say hello")
    assert response.output_text, f"empty answer: {response}"
    print(f"responses.create: {response.model}: {response.output_text!r}")

    deltas = []
    with client.responses.stream(model="auto", input="Say hello") as events:
        for event in events:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = events.get_final_response()
    assert len(deltas) > 1, f"stream did not arrive in parts: {deltas}"
    assert final.output_text == "".join(deltas), (final.output_text, deltas)
    print(f"responses.stream: {len(deltas)} deltas: {final.output_text!r}")

    response = client.responses.create(
        model="auto",
        input="Weather in Paris?",
        tools=[{"type": "function", "name": "weather", "parameters": WEATHER}],
    )
    calls = [item for item in response.output if item.type == "function_call"]
    assert calls and calls[0].name == "weather", response.output
    print(f"responses tool call: {calls[0].name}({calls[0].arguments})")


def check_retries(base_url: str) -> None:
    """An SDK's own retries must not multiply the proxy's attempts upstream (issue 13)."""
    http, tries = counting_client()
    client = OpenAI(base_url=base_url, api_key="anything", max_retries=2, http_client=http)
    try:
        client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "[demo:503] fail"}]
        )
        raise AssertionError("the failing model answered")
    except openai.APIStatusError as error:
        headers = error.response.headers
        attempts = int(headers["x-proxy-attempts"])
        assert error.status_code == 503, error
        assert headers.get("x-should-retry") == "false", dict(headers)
        assert headers.get("retry-after"), dict(headers)
    assert len(tries) == 1, f"the SDK sent {len(tries)} requests"
    assert 1 <= attempts <= 2, attempts
    print(
        f"retries: max_retries=2, 1 request from the SDK, {attempts} upstream attempt(s), "
        f"all the proxy's own (x-should-retry: false)"
    )


def check_anthropic(root: str) -> None:
    client = Anthropic(base_url=root, api_key="anything", max_retries=0, timeout=30)

    models = client.models.list()
    assert models.data and models.data[0].type == "model", models
    print(f"anthropic models.list: {len(models.data)} models")

    message = client.messages.create(
        model="auto", max_tokens=256, messages=[{"role": "user", "content": "Say hello"}]
    )
    assert message.content[0].type == "text" and message.content[0].text, message
    print(f"messages.create: {message.model}: {message.content[0].text!r}")

    with client.messages.stream(
        model="auto", max_tokens=256, messages=[{"role": "user", "content": "Say hello"}]
    ) as stream:
        parts = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(parts) > 1, f"stream did not arrive in parts: {parts}"
    assert final.content[0].text == "".join(parts), (final, parts)
    assert final.stop_reason == "end_turn", final
    print(f"messages.stream: {len(parts)} parts: {''.join(parts)!r}")

    counted = client.messages.count_tokens(
        model="auto", messages=[{"role": "user", "content": "Count these words, please"}]
    )
    assert counted.input_tokens > 0, counted
    print(f"messages.count_tokens: {counted.input_tokens}")

    message = client.messages.create(
        model="auto",
        max_tokens=256,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[{"name": "weather", "description": "The weather", "input_schema": WEATHER}],
    )
    use = [block for block in message.content if block.type == "tool_use"]
    assert message.stop_reason == "tool_use" and use and use[0].name == "weather", message
    print(f"messages tool use: {use[0].name}({use[0].input})")

    http, tries = counting_client()
    limited = Anthropic(base_url=root, api_key="anything", max_retries=2, http_client=http)
    try:
        limited.messages.create(
            model="auto", max_tokens=64, messages=[{"role": "user", "content": "[demo:429] hi"}]
        )
        raise AssertionError("the rate-limited model answered")
    except anthropic.RateLimitError as error:
        assert error.response.headers.get("retry-after"), dict(error.response.headers)
        assert error.body["type"] == "error", error.body
        print(f"messages 429: RateLimitError ({error.body['error']['message'][:60]}...)")
    assert len(tries) == 1, f"the SDK sent {len(tries)} requests"


def check_agents(base_url: str) -> None:
    from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled

    set_tracing_disabled(True)
    called = []

    @function_tool
    def weather(city: str) -> str:
        """The weather in a city."""
        called.append(city)
        return "sunny"

    client = openai.AsyncOpenAI(base_url=base_url, api_key="anything", max_retries=0)
    agent = Agent(
        name="weather",
        instructions="Answer with the weather tool.",
        model=OpenAIResponsesModel(model="auto", openai_client=client),
        tools=[weather],
    )
    result = Runner.run_sync(agent, "Weather in Paris?")
    assert called, "the agent never called its tool"
    assert result.final_output, result
    print(f"agents: called weather({called[0]!r}), then answered {result.final_output!r}")


def main(base_url: str) -> None:
    check_openai(base_url)
    check_retries(base_url)
    root = base_url.removesuffix("/").removesuffix("/v1")
    check_anthropic(root)
    check_agents(base_url)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000/v1")
