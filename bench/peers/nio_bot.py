#!/usr/bin/python3
"""The peer: a plain matrix-nio bot with encryption on, written the way matrix-nio's
documentation and examples show it (AsyncClient with a store_path and
AsyncClientConfig(encryption_enabled=True), password login, an initial sync before the
callbacks are added, add_event_callback for invites and RoomMessageText,
sync_forever, room_send with ignore_unverified_devices=True). It does the job
hermes-matrix does, minus everything around it: each text message from an allowed
user goes to the same OpenAI-compatible agent backend (POST /v1/chat/completions, not
streamed: a plain bot posts the final text) and the answer is posted as a reply.
No reactions, no typing, no journal, no edits.

    /usr/bin/python3 bench/peers/nio_bot.py CONFIG.json

CONFIG.json: {"homeserver": URL, "allowed": [user ids], "bots": [{"user_id",
"password", "store", "agent_url"}, ...]}. One bot per process is how the seed's setup
runs Hermes' Matrix gateways (one per profile); several bots make many clients in one
process. Prints `ready N` on stdout once every bot finished its first sync.
Runs with Debian's /usr/bin/python3 (python3-matrix-nio, python3-olm, aiohttp).
"""

import asyncio
import json
import sys

import aiohttp
from nio import (AsyncClient, AsyncClientConfig, InviteMemberEvent, LoginResponse,
                 MatrixRoom, RoomMessageText)


class Bot:
    def __init__(self, conf, homeserver, allowed, http):
        self.conf, self.allowed, self.http = conf, set(allowed), http
        self.client = AsyncClient(homeserver, conf["user_id"], store_path=conf["store"],
                                  config=AsyncClientConfig(encryption_enabled=True,
                                                           store_sync_tokens=True))

    async def start(self):
        resp = await self.client.login(self.conf["password"], device_name="nio-bot")
        if not isinstance(resp, LoginResponse):
            raise RuntimeError(f"login failed for {self.conf['user_id']}: {resp}")
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        # The first sync is history: answer nothing from before the bot started.
        await self.client.sync(timeout=30000, full_state=True)
        self.client.add_event_callback(self.on_invite, InviteMemberEvent)
        self.client.add_event_callback(self.on_message, RoomMessageText)

    async def on_invite(self, room: MatrixRoom, event: InviteMemberEvent):
        if event.state_key == self.client.user_id and event.sender in self.allowed:
            await self.client.join(room.room_id)

    async def on_message(self, room: MatrixRoom, event: RoomMessageText):
        if event.sender == self.client.user_id or event.sender not in self.allowed:
            return
        body = {"model": "nio-bot", "stream": False,
                "messages": [{"role": "user", "content": event.body}]}
        try:
            async with self.http.post(self.conf["agent_url"] + "/v1/chat/completions",
                                      json=body) as r:
                answer = (await r.json())["choices"][0]["message"]["content"]
        except (aiohttp.ClientError, KeyError, ValueError) as e:
            answer = f"error: {e}"
        await self.client.room_send(
            room.room_id, "m.room.message",
            {"msgtype": "m.text", "body": answer,
             "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}}},
            ignore_unverified_devices=True)

    async def run(self):
        await self.client.sync_forever(timeout=30000)


async def main(path):
    with open(path) as f:
        conf = json.load(f)
    async with aiohttp.ClientSession() as http:
        bots = [Bot(b, conf["homeserver"], conf["allowed"], http) for b in conf["bots"]]
        await asyncio.gather(*(b.start() for b in bots))
        print(f"ready {len(bots)}", flush=True)
        try:
            await asyncio.gather(*(b.run() for b in bots))
        finally:
            for b in bots:
                await b.client.close()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1]))
    except KeyboardInterrupt:
        pass
