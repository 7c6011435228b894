"""Probe 3: a job whose output folder is a media folder, where its render would replace an original."""

from __future__ import annotations

from bridge.harness import http as request

from postbay.synth import write_clip


def test_api_refuses_an_output_folder_among_the_originals(open_bay):
    bay = open_bay()
    original = write_clip(bay.media / "shot.mov", frames=4, width=64, height=36, audio=None)
    other = write_clip(bay.media / "other.mov", frames=4, width=64, height=36, audio=None)
    kept = original.read_bytes()
    for out in [str(bay.media), str(bay.hot), f"{bay.root}/hot-out/../media"]:
        status, answer = request("POST", bay.url + "/jobs", None, {"path": str(other), "recipe": "review", "out": out})
        assert status == 403 and "not an output folder" in answer["detail"], (out, answer)
    assert bay.ledger.list() == [] and original.read_bytes() == kept
    # the hot folder's output and the API's own output folder are fine
    status, job = request("POST", bay.url + "/jobs", None,
                          {"path": str(other), "recipe": "review", "out": str(bay.root / "hot-out" / "reels")})
    assert status == 201 and job["output_dir"] == str(bay.root / "hot-out" / "reels")


def test_output_roots_from_the_config_are_accepted(open_bay, tmp_path):
    bay = open_bay()
    clip = write_clip(bay.media / "shot.mov", frames=4, width=64, height=36, audio=None)
    status, _ = request("POST", bay.url + "/jobs", None, {"path": str(clip), "recipe": "review",
                                                          "out": str(tmp_path / "deliveries")})
    assert status == 403
    bay.server.stop()
    from postbay.bridge.api import ApiServer

    bay.config.output_roots = [tmp_path / "deliveries"]
    bay.server = ApiServer(bay.config, bay.ledger).start()
    status, job = request("POST", bay.url + "/jobs", None, {"path": str(clip), "recipe": "review",
                                                            "out": str(tmp_path / "deliveries")})
    assert status == 201, job
