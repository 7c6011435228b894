"""upscale: as sharp as FFmpeg's Lanczos on 2× enlargements, sharpening without halos, ONNX tiles."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from media import ffmpeg_filter, pan, photo, psnr, run_processor, to_display, to_linear
from parity import assert_backends_agree
from pydantic import ValidationError

from postbay.processors import upscale as up
from postbay.processors.resample import resize, resize_taps
from postbay.registry import FrameFormat


def _camera_at_half_resolution(frame: np.ndarray) -> np.ndarray:
    """What a sensor with half the photosites records: 2×2 averages of light."""
    lin = to_linear(frame)
    lin = 0.25 * (lin[0::2, 0::2] + lin[1::2, 0::2] + lin[0::2, 1::2] + lin[1::2, 1::2])
    return to_display(lin)


@pytest.fixture(scope="module")
def scenes():
    out = {}
    for name in ("astronaut", "coffee"):
        clean = pan(photo(name), 2, 256, 192)
        out[name] = (clean, [_camera_at_half_resolution(c) for c in clean])
    return out


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_2x_enlargement_is_at_least_ffmpeg_lanczos(scenes, name):
    clean, low = scenes[name]
    ours = run_processor("upscale", low, scale=2)
    ffmpeg = ffmpeg_filter(low, "scale=256:192:flags=lanczos")
    assert ours[0].shape == clean[0].shape
    for o, f, c in zip(ours, ffmpeg, clean):
        # Same kernel, same pixel-centre alignment: equal up to FFmpeg's 16-bit rounding.
        assert psnr(o, c, 4) >= psnr(f, c, 4) - 0.01
    sharpened = run_processor("upscale", low, scale=2, sharpen=0.3)
    assert np.mean([psnr(o, c, 4) for o, c in zip(sharpened, clean)]) > np.mean(
        [psnr(f, c, 4) for f, c in zip(ffmpeg, clean)]) + 0.05


def _local_range(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import scipy.ndimage

    return (scipy.ndimage.minimum_filter(x, size=3, mode="nearest"),
            scipy.ndimage.maximum_filter(x, size=3, mode="nearest"))


def _acutance(y: np.ndarray) -> float:
    """Mean squared luma gradient: how crisp edges read."""
    return float(np.mean(np.diff(y, axis=0) ** 2) + np.mean(np.diff(y, axis=1) ** 2))


def test_sharpen_raises_acutance_without_halos(scenes):
    _, low = scenes["astronaut"]
    soft = run_processor("upscale", low, scale=2)[0]
    sharp = run_processor("upscale", low, scale=2, sharpen=0.8)[0]
    luma = lambda x: x @ np.array([0.2126, 0.7152, 0.0722], np.float32)  # noqa: E731
    assert _acutance(luma(sharp)) > 1.15 * _acutance(luma(soft))
    # No halo: the sharpened luma never leaves the local range of the unsharpened picture.
    lo, hi = _local_range(luma(soft))
    overshoot = np.maximum(luma(sharp) - hi, lo - luma(sharp)).max()
    assert overshoot <= 1e-5
    # FFmpeg's cas at the same strength does overshoot: the bound is not a property of any sharpener.
    cas = luma(ffmpeg_filter([soft], "cas=strength=0.8")[0])
    assert np.maximum(cas - hi, lo - cas).max() > 0.01


def test_reduction_keeps_light_of_fine_detail():
    # One-pixel white lines on black: a camera with half the photosites sees half the light.
    stripes = np.zeros((64, 64, 3), np.float32)
    stripes[::2] = 1.0
    half = run_processor("upscale", [stripes], width=32, height=32)[0]
    assert to_linear(half[8:-8, 8:-8]).mean() == pytest.approx(0.5, abs=0.02)


def test_size_keeps_display_aspect_and_stays_even():
    anamorphic = FrameFormat(720, 576, Fraction(25), 10, Fraction(16, 15))  # 4:3 PAL
    fmt = up.upscale_format(up.UpscaleParams(height=1080), anamorphic)
    assert (fmt.width, fmt.height, fmt.sample_aspect_ratio) == (1440, 1080, 1)
    fmt = up.upscale_format(up.UpscaleParams(scale=1.5), FrameFormat(853, 480, Fraction(24), 1))
    assert fmt.width % 2 == 0 and fmt.height == 720


def test_banded_resample_equals_tap_by_tap():
    x = np.random.default_rng(0).random((45, 70, 3), dtype=np.float32)
    for w, h in [(140, 90), (33, 21), (70, 101)]:
        for method in ("lanczos", "bicubic"):
            assert np.abs(resize(x, w, h, method, np) - resize_taps(x, w, h, method, np)).max() < 1e-5


def test_params_are_checked_at_the_edge(tmp_path):
    with pytest.raises(ValidationError, match="width, height"):
        up.UpscaleParams()
    with pytest.raises(ValidationError, match="not both"):
        up.UpscaleParams(scale=2, width=1920)
    with pytest.raises(ValidationError, match="missing.onnx"):
        up.UpscaleParams(scale=2, model=str(tmp_path / "missing.onnx"))


def _linear_sr_model(path, scale: int = 2) -> str:
    """A tiny 'super-resolution' graph: bilinear enlargement (Resize), dynamic spatial size."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])
    y = helper.make_tensor_value_info("enlarged", TensorProto.FLOAT, [1, 3, "H", "W"])
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1.0, 1.0, float(scale), float(scale)])
    node = helper.make_node("Resize", ["image", "", "scales"], ["enlarged"], mode="linear",
                            coordinate_transformation_mode="half_pixel")
    graph = helper.make_graph([node], "sr", [x], [y], initializer=[scales])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def test_onnx_model_runs_tiled_without_seams(tmp_path):
    import onnxruntime as ort

    model = _linear_sr_model(tmp_path / "sr.onnx")
    frame = pan(photo("coffee"), 1, 300, 270)[0]  # larger than a tile both ways: 4 tiles
    ours = run_processor("upscale", [frame], scale=2, model=model)[0]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    whole = session.run(None, {"image": frame.transpose(2, 0, 1)[None]})[0][0].transpose(1, 2, 0)
    assert ours.shape == (540, 600, 3)
    assert np.abs(ours - whole).max() < 1e-4


def test_broken_model_names_the_file(tmp_path):
    from postbay.errors import PostbayError

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(PostbayError, match="bad.onnx"):
        run_processor("upscale", [np.zeros((16, 16, 3), np.float32)], scale=2, model=str(bad))


@pytest.mark.gpu
def test_gpu_matches_cpu(scenes):
    _, low = scenes["coffee"]
    assert_backends_agree(lambda backend: run_processor("upscale", low[:1], backend=backend, scale=2, sharpen=0.5),
                          atol=1e-4)
