"""/events/{id}: the page every push links to, server-rendered in ja / en / やさしい日本語."""
from __future__ import annotations

from geo.model import Event, Kind, SourceRef, State
from tests.service_client import publish, service_client


def sediment(level: int = 4, state: State = State.ACTIVE, serial: int = 1, text: str = "") -> Event:
    return Event(id="sediment:17201", kind=Kind.SEDIMENT_WARNING, level=level, state=state, areas=("17201",),
                 title="土砂災害警戒情報（金沢市）", text=text,
                 source=SourceRef(source_id="jma", upstream_id="EV1", sequence=serial))


async def test_event_page_shows_level_state_areas_action_and_history(tmp_path):
    async with service_client(tmp_path) as client:
        await publish(client, "jma", sediment(text="土砂災害の危険度が高まっています"))
        page = await client.get("/events/sediment:17201?lang=ja")
        assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
        html = await page.text()
        assert "<script" not in html.split("<main", 1)[1]  # nothing on the page needs script
        for text in ("土砂災害警戒情報（金沢市）", "警戒レベル４相当", "発表中", "金沢市", "危険な場所から全員避難",
                     "土砂災害の危険度が高まっています"):
            assert text in html
        en = await (await client.get("/events/sediment:17201?lang=en")).text()
        assert "Alert level 4 equivalent" in en and "Kanazawa" in en and "Everyone in a dangerous place must evacuate" in en
        easy = await (await client.get("/events/sediment:17201?lang=easy")).text()
        assert "けいかいレベル４（そうとう）" in easy and "でています" in easy

        etag = page.headers["ETag"]
        again = await client.get("/events/sediment:17201?lang=ja", headers={"If-None-Match": etag})
        assert again.status == 304  # cached per version and language

        await publish(client, "jma", sediment(level=0, state=State.LIFTED, serial=2))
        lifted = await (await client.get("/events/sediment:17201?lang=ja")).text()
        assert "解除" in lifted and "この情報は終わりました。" in lifted and "危険な場所から全員避難" not in lifted
        history = lifted.split('class="history"', 1)[1]
        assert history.index("解除") < history.index("発表中")  # newest first, each with its time
        assert history.count("<time>") == 2


async def test_unknown_event_is_a_404_problem(tmp_path):
    async with service_client(tmp_path) as client:
        response = await client.get("/events/sediment:99999")
        assert response.status == 404
        assert response.headers["Content-Type"].startswith("application/problem+json")
