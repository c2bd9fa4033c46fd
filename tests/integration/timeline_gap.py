"""What a real Matrix client does with a limited sync, for the tests' nio clients.

A sync gives at most the newest `limit` events of a room (Synapse's default is 10) and
says `limited` when it left older ones out; Element pages back over that gap with
/messages. nio does not, so a burst of more than 10 events between two syncs hid its
first ones from the tests: a reply that was in the room looked lost (issue 13)."""

from nio import RoomMessagesResponse


async def fill_gaps(client, resp, since):
    """Puts the events a limited sync left out in front of each joined room's timeline
    in `resp` (oldest first), paging /messages back from the timeline's prev_batch to
    `since`, the token the sync started from. Nothing to do on an initial sync."""
    if not since:
        return
    for room_id, room in resp.rooms.join.items():
        if not room.timeline.limited:
            continue
        older, token = [], room.timeline.prev_batch
        while token:
            page = await client.room_messages(room_id, start=token, end=since, limit=100)
            assert isinstance(page, RoomMessagesResponse), page
            older.extend(page.chunk)
            token = page.end if page.chunk else None
        room.timeline.events[:0] = list(reversed(older))

