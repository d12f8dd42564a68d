"""Fields and layer types that come from Caffe forks protonet does not support, for the hint an unknown
name gets."""

from __future__ import annotations

from typing import Any

from .errors import did_you_mean

# Fields and layer types from Caffe forks that protonet does not support.
FORKS = {
    "SSD (weiliu89/caffe)": [
        "permute_param", "prior_box_param", "detection_output_param", "detection_evaluate_param",
        "multibox_loss_param", "annotated_data_param", "norm_param", "video_data_param",
        "resize_param", "noise_param", "distort_param", "expand_param", "emit_constraint",
        "eval_type", "ap_version", "show_per_class_result", "crop_h", "crop_w",
        "Permute", "PriorBox", "DetectionOutput", "DetectionEvaluate", "MultiBoxLoss",
        "AnnotatedData", "Normalize", "VideoData", "SmoothL1Loss",
    ],
    "MobileNet-SSD (chuanqi305)": ["DepthwiseConvolution"],
    "Faster R-CNN (rbgirshick/caffe-fast-rcnn)": ["roi_pooling_param", "ROIPooling", "SmoothL1Loss"],
    "DeepLab (caffe-deeplab)": ["interp_param", "Interp"],
    "PSPNet / SegNet forks": ["bn_param", "BN", "Upsample", "upsample_param"],
    "HED (s9xie/hed)": ["ImageLabelmapData"],
}


def fork_of(name: str) -> str | None:
    """The Caffe fork a field or layer type comes from, if protonet knows it."""
    for fork, names in FORKS.items():
        if name in names:
            return fork
    return None


def unknown_hint(name: str, valid: Any) -> str | None:
    """The fork an unknown name comes from, else the nearest valid name."""
    fork = fork_of(name)
    if fork:
        return f"'{name}' comes from the Caffe fork {fork}, which protonet does not support"
    return did_you_mean(name, valid)
