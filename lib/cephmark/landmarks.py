"""Landmark name lists: the ISBI 2015 set and the CL-Detection 2023 model's 38 channels."""
from __future__ import annotations

ISBI_19 = [
    "sella", "nasion", "orbitale", "porion", "subspinale_A_point", "supramentale_B_point",
    "pogonion", "menton", "gnathion", "gonion", "lower_incisal_incision",
    "upper_incisal_incision", "upper_lip", "lower_lip", "subnasale", "soft_tissue_pogonion",
    "posterior_nasal_spine", "anterior_nasal_spine", "articulare",
]

CLDETECTION_38 = ISBI_19 + [
    "D_symphysis_center", "upper_incisor_root_apex", "lower_incisor_root_apex", "columella",
    "pterygomaxillary_fissure", "condylion", "pronasale", "basion", "PT_point", "bolton_point",
    "upper_lip_vermilion_border", "lower_lip_vermilion_border", "soft_tissue_gnathion",
    "soft_tissue_menton", "glabella", "soft_tissue_nasion", "cervical_point",
    "upper_first_molar", "lower_first_molar",
]

RULER = ["p1", "p2"]  # 0 cm (bottom) and 1 cm (top) marks of the nasion-rod ruler
RULER_DISTANCE_MM = 10.0


def default_names(num_landmarks: int) -> list[str]:
    """The 38 CL-Detection names for a 38-output model, else indices as strings."""
    if num_landmarks == len(CLDETECTION_38):
        return list(CLDETECTION_38)
    return [str(i) for i in range(num_landmarks)]
