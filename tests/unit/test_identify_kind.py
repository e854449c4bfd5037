"""Identity of each model kind from files the tests write with realistic safetensors and GGUF headers."""
from __future__ import annotations

import pickle
import zipfile

import pytest

from lora_manager.py.library.identify_kind import identify_file
from lora_manager.py.library.safetensors import write_safetensors_header
from support.gguf_files import write_gguf

CASES = [
    ("vae", "sdxl_vae.safetensors", {"decoder.conv_in.weight": ("F16", [512, 4, 3, 3])}, "SDXL VAE", "SDXL 1.0"),
    ("vae", "vae-ft-mse.safetensors", {"decoder.conv_in.weight": ("F32", [512, 4, 3, 3])}, "SD VAE", "SD 1.5"),
    ("vae", "ae.safetensors", {"decoder.conv_in.weight": ("BF16", [512, 16, 3, 3])}, "16-channel VAE", "Flux.1 D"),
    ("controlnet", "cn.safetensors", {"input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ("F16", [320, 768])},
     "SD1.5 ControlNet", "SD 1.5"),
    ("controlnet", "cnxl.safetensors", {"input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight":
                                        ("F16", [640, 2048])}, "SDXL ControlNet", "SDXL 1.0"),
    ("controlnet", "flux_cn.safetensors", {"controlnet_x_embedder.weight": ("BF16", [3072, 64])},
     "Flux ControlNet", "Flux.1 D"),
    ("text_encoders", "t5xxl_fp16.safetensors",
     {"encoder.block.0.layer.0.SelfAttention.q.weight": ("F16", [4096, 4096]), "shared.weight": ("F16", [32128, 8])},
     "T5-XXL", "Flux.1 D"),
    ("text_encoders", "umt5.safetensors",
     {"encoder.block.0.layer.0.SelfAttention.q.weight": ("BF16", [4096, 4096]),
      "shared.weight": ("BF16", [256384, 8])}, "umT5-XXL", "Wan Video"),
    ("text_encoders", "clip_l.safetensors", {"text_model.final_layer_norm.weight": ("F16", [768])}, "CLIP-L", "SD 1.5"),
    ("text_encoders", "clip_g.safetensors", {"text_model.final_layer_norm.weight": ("F16", [1280])}, "CLIP-G",
     "SDXL 1.0"),
    ("upscale_models", "4x-UltraSharp.safetensors", {"model.0.weight": ("F32", [64, 3, 3, 3])}, "ESRGAN 4x", None),
    ("upscale_models", "RealESRGAN.safetensors", {"conv_first.weight": ("F32", [64, 3, 3, 3]),
                                                  "conv_up1.weight": ("F32", [64, 64, 3, 3])}, "ESRGAN 2x", None),
    ("upscale_models", "swin.safetensors", {"layers.0.residual_group.blocks.0.norm1.weight": ("F32", [180])},
     "SwinIR", None),
    ("clip_vision", "clip_h.safetensors", {"vision_model.post_layernorm.weight": ("F16", [1280])},
     "CLIP ViT-H/14", None),
    ("clip_vision", "clip_g.safetensors", {"vision_model.post_layernorm.weight": ("F16", [1664])},
     "CLIP ViT-bigG/14", None),
    ("ipadapter", "ip.safetensors", {"ip_adapter.1.to_k_ip.weight": ("F16", [320, 768]),
                                     "image_proj.proj.weight": ("F16", [3072, 1024])}, "IP-Adapter SD1.5", "SD 1.5"),
    ("ipadapter", "ipplus_xl.safetensors", {"ip_adapter.1.to_k_ip.weight": ("F16", [640, 2048]),
                                            "image_proj.latents": ("F16", [1, 16, 1280])},
     "IP-Adapter SDXL plus", "SDXL 1.0"),
    ("animatediff_models", "mm_v2.safetensors",
     {"down_blocks.3.motion_modules.0.proj_in.weight": ("F16", [1280, 1280]),
      "mid_block.motion_modules.0.proj_in.weight": ("F16", [1280, 1280])}, "AnimateDiff v2", "SD 1.5"),
    ("animatediff_models", "mm_sdxl.safetensors",
     {"down_blocks.2.motion_modules.0.proj_in.weight": ("F16", [1280, 1280])}, "AnimateDiff SDXL", "SDXL 1.0"),
    ("style_models", "flux_redux.safetensors", {"redux_up.weight": ("BF16", [12288, 1152])}, "Flux Redux",
     "Flux.1 D"),
    ("vae", "wan_vae.safetensors", {"decoder.conv_in.weight": ("BF16", [384, 16, 3, 3, 3])}, "Wan VAE", "Wan Video"),
    ("vae", "odd.safetensors", {"decoder.conv_in.weight": ("F16", [64, 8, 3, 3])}, "8-channel VAE", None),
    ("vae", "none.safetensors", {"x.weight": ("F16", [4])}, "", None),
    ("controlnet", "cn21.safetensors", {"input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight":
                                        ("F16", [320, 1024])}, "SD2 ControlNet", "SD 2.1"),
    ("controlnet", "cn_any.safetensors", {"zero_convs.0.0.weight": ("F16", [320, 320, 1, 1])}, "ControlNet", None),
    ("text_encoders", "t5_base.safetensors", {"encoder.block.0.layer.0.SelfAttention.q.weight": ("F32", [768, 768])},
     "T5", None),
    ("text_encoders", "clip_h.safetensors", {"text_model.final_layer_norm.weight": ("F16", [1024])}, "OpenCLIP-H",
     "SD 2.1"),
    ("text_encoders", "other.safetensors", {"x.weight": ("F16", [4])}, "", None),
    ("upscale_models", "dat.safetensors", {"layers.0.blocks.0.attn.qkv.weight": ("F32", [540, 180])}, "DAT", None),
    ("upscale_models", "x.safetensors", {"y.weight": ("F32", [4])}, "", None),
    ("clip_vision", "vitl.safetensors", {"vision_model.post_layernorm.weight": ("F16", [1024])}, "CLIP ViT-L/14",
     None),
    ("clip_vision", "siglip.safetensors", {"vision_model.post_layernorm.weight": ("F16", [1152])}, "SigLIP", None),
    ("ipadapter", "ip_any.safetensors", {"image_proj.proj.weight": ("F16", [3072, 1024])}, "IP-Adapter", None),
    ("ipadapter", "no.safetensors", {"y.weight": ("F16", [4])}, "", None),
    ("animatediff_models", "mm_v3.safetensors",
     {"down_blocks.3.motion_modules.0.proj_in.weight": ("F16", [1280, 1280])}, "AnimateDiff v1/v3", "SD 1.5"),
    ("animatediff_models", "no.safetensors", {"y.weight": ("F16", [4])}, "", None),
    ("style_models", "t2i_style.safetensors", {"style_embedding": ("F32", [1, 8, 1024])}, "T2I style adapter",
     "SD 1.5"),
    ("diffusion_models", "sd3.safetensors", {"joint_blocks.0.x_block.attn.qkv.weight": ("F16", [4608, 1536])},
     "SD3 MMDiT", "SD 3"),
    ("diffusion_models", "wan.safetensors", {"patch_embedding.weight": ("BF16", [1536, 16, 1, 2, 2])}, "Wan",
     "Wan Video"),
    ("checkpoint", "sd15.safetensors", {"input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight":
                                        ("F16", [320, 768])}, "SD1.5 UNet", "SD 1.5"),
    ("lora", "l.safetensors", {"y.weight": ("F16", [4])}, "", None),
    ("diffusion_models", "flux1-dev.safetensors", {"double_blocks.0.img_attn.qkv.weight": ("BF16", [9216, 3072])},
     "Flux", "Flux.1 D"),
]


@pytest.mark.parametrize("kind, name, tensors, family, base", CASES, ids=[c[1] + "-" + c[0] for c in CASES])
def test_safetensors_identity_per_kind(tmp_path, kind, name, tensors, family, base):
    path = tmp_path / name
    write_safetensors_header(path, tensors, {"format": "pt"}, fill_data=False)
    ident = identify_file(path, kind)
    assert (ident.format, ident.family, ident.error) == ("safetensors", family, "")
    assert base is None or base in ident.base_models
    assert ident.precision == next(iter(tensors.values()))[0] or len(tensors) > 1
    assert ident.vram_bytes > 0 and ident.size >= ident.vram_bytes


def test_gguf_unet_and_text_encoder(tmp_path):
    unet = write_gguf(tmp_path / "flux1-dev-Q4_K_S.gguf", {"general.architecture": "flux"},
                      [("double_blocks.0.img_attn.qkv.weight", (3072, 9216), "Q4_K")])
    ident = identify_file(unet, "diffusion_models")
    assert (ident.format, ident.family, ident.precision) == ("gguf", "Flux", "Q4_K")
    assert ident.vram_bytes == 3072 * 9216 // 256 * 144
    t5 = write_gguf(tmp_path / "t5-v1_1-xxl-encoder-Q8_0.gguf", {"general.architecture": "t5encoder"},
                    [("enc.blk.0.attn_q.weight", (4096, 4096), "Q8_0")])
    ident = identify_file(t5, "text_encoders")
    assert (ident.format, ident.family, ident.precision) == ("gguf", "t5encoder", "Q8_0")


def test_ckpt_and_pt_are_recognised_without_unpickling(tmp_path):
    zpath = tmp_path / "model.ckpt"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    ppath = tmp_path / "old.pt"
    ppath.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    assert identify_file(zpath, "vae").format == "pytorch-zip"
    assert identify_file(ppath, "upscale_models").format == "pickle"


def test_broken_files_report_a_reason(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x05\x00")
    assert identify_file(bad, "vae").error
    trunc = tmp_path / "t.gguf"
    trunc.write_bytes(b"GGUF\x03\x00\x00\x00\x01")
    ident = identify_file(trunc, "diffusion_models")
    assert ident.format == "gguf" and "truncated" in ident.error
    assert identify_file(tmp_path / "missing.gguf", "vae").error.startswith("cannot read")
    assert bad.read_bytes() == b"\x05\x00"
