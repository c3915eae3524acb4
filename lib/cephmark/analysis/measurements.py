"""The measurement table: every cephalometric measurement as data (name, kind and landmarks,
unit, norm, classes, literature source), evaluated by `cephmark.analysis.compute`.

Points are named as in `cephmark.landmarks`; the geometry runs in the face-right frame (see
`cephmark.analysis.geometry`). Norms are ``mean +- SD``; where a source gives only a normal
range it is read as mean +- 1 SD, which is how the ISBI 2015 challenge built its classes
(ODI 74.5 +- 6.07 -> 68.4..80.5, APDI 81.4 +- 3.8 -> 77.6..85.2). Classes are checked in order,
the first whose closed interval holds the value wins.
"""
from __future__ import annotations

from dataclasses import dataclass

from cephmark.analysis.geometry import (
    AngleAt, Distance, Kind, LineAngle, Mid, Projected, Ratio, SumOfAngles,
)

# landmark names (cephmark.landmarks) under their cephalometric abbreviations
S, N, Or, Po = "sella", "nasion", "orbitale", "porion"
A, B, Pog, Me, Gn, Go = ("subspinale_A_point", "supramentale_B_point", "pogonion", "menton", "gnathion",
                         "gonion")
L1, U1 = "lower_incisal_incision", "upper_incisal_incision"
PNS, ANS, Ar = "posterior_nasal_spine", "anterior_nasal_spine", "articulare"
U1A, L1A = "upper_incisor_root_apex", "lower_incisor_root_apex"
U6, L6 = "upper_first_molar", "lower_first_molar"

UNITS = ("deg", "mm", "%", "ratio")


@dataclass(frozen=True)
class Norm:
    mean: float
    sd: float


@dataclass(frozen=True)
class ClassRule:
    """``code`` (e.g. ``C1``) with ``label`` when low <= value <= high (None = unbounded)."""

    code: str
    label: str
    low: float | None = None
    high: float | None = None

    def holds(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


@dataclass(frozen=True)
class Measurement:
    name: str  # as in the literature: SNA, ANB, FMA ...
    analysis: str  # key of ANALYSES
    title: str
    geometry: Kind
    unit: str
    norm: Norm | None
    source: str
    classes: tuple[ClassRule, ...] = ()
    note: str = ""
    display: str = ""  # the report's label when the name alone could mislead (default: name)

    @property
    def label(self) -> str:
        return self.display or self.name

    def __post_init__(self):
        if self.unit not in UNITS:
            raise ValueError(f"{self.name}: unit {self.unit!r} not in {UNITS}")
        if (self.unit == "deg") != self.geometry.is_angle or (self.unit == "mm") != self.geometry.is_length:
            raise ValueError(f"{self.name}: unit {self.unit} does not fit a {self.geometry.kind}")

    def classify(self, value: float) -> ClassRule | None:
        return next((c for c in self.classes if c.holds(value)), None)


# -- shared geometry ----------------------------------------------------------------------------
SNA_ = AngleAt(S, N, A)
SNB_ = AngleAt(S, N, B)
ANB_ = SumOfAngles(((1.0, SNA_), (-1.0, SNB_)))
SN_GOGN = LineAngle(S, N, Go, Gn)
FH_MP = LineAngle(Po, Or, Go, Me)  # Frankfort horizontal to the mandibular plane Go-Me
IMPA_ = LineAngle(Me, Go, L1A, L1)
PP_FH = LineAngle(Po, Or, PNS, ANS, signed=True)  # palatal plane tipped down anteriorly > 0

WANG = ("Wang et al., Med Image Anal 2016;31:63-76 (ISBI 2015 challenge): definition and classes; "
        "norm = the challenge's C1 range as mean +- 1 SD")
STEINER = ("Steiner, Am J Orthod 1953;39:729-755 (means); SD: the clinical tolerance usually quoted "
           "with it, not from Steiner")
TWEED = "Tweed, Angle Orthod 1954;24:121-169 (FMA 25, IMPA 90, FMIA 65 deg); SD +- 5 deg: Tweed's range"
BJORK = "Bjork 1969 / Jarabak & Fizzell 1972 (polygon angles and sum, mean +- SD)"


def _isbi(name, title, geometry, unit, c1, c2, c3, note="", norm=None, extra=(), display=""):
    low, high = c1[1], c1[2]
    norm = norm or Norm(round((low + high) / 2, 3), round((high - low) / 2, 3))
    classes = (ClassRule("C1", c1[0], low, high),) + tuple(extra) + (
        ClassRule("C2", c2[0], *c2[1:]), ClassRule("C3", c3[0], *c3[1:]))
    return Measurement(name, "isbi2015", title, geometry, unit, norm, WANG, classes, note, display)


TABLE: tuple[Measurement, ...] = (
    # -- ISBI 2015 challenge: the eight measurements and their classes (Wang et al. 2016) --------
    _isbi("ANB", "ANB angle", ANB_, "deg", ("Class I (normal)", 3.2, 5.7), ("Class II", 5.7, None),
          ("Class III", None, 3.2), note="SNA - SNB"),
    _isbi("SNB", "SNB angle", SNB_, "deg", ("normal mandible", 74.6, 78.7),
          ("retrognathic mandible", None, 74.6), ("prognathic mandible", 78.7, None)),
    _isbi("SNA", "SNA angle", SNA_, "deg", ("normal maxilla", 79.4, 83.2),
          ("prognathic maxilla", 83.2, None), ("retrognathic maxilla", None, 79.4)),
    _isbi("ODI", "Overbite depth indicator",
          SumOfAngles(((1.0, LineAngle(Me, Go, B, A)), (1.0, PP_FH))), "deg",
          ("normal", 68.4, 80.5), ("deep bite tendency", 80.5, None), ("open bite tendency", None, 68.4),
          note="A-B plane to mandibular plane Go-Me, plus palatal plane to FH (Kim 1974)",
          norm=Norm(74.5, 6.07)),
    _isbi("APDI", "Anteroposterior dysplasia indicator",
          SumOfAngles(((1.0, LineAngle(Or, Po, N, Pog)), (-1.0, LineAngle(N, Pog, A, B, signed=True)),
                       (1.0, PP_FH))), "deg",
          ("normal", 77.6, 85.2), ("Class II tendency", None, 77.6), ("Class III tendency", 85.2, None),
          note="facial plane N-Pog to FH, A-B plane to facial plane, palatal plane to FH (Kim & Vietas 1978)",
          norm=Norm(81.4, 3.8)),
    _isbi("FHI", "Facial height index", Ratio(Distance(S, Go), Distance(N, Me)), "ratio",
          ("normal", 0.65, 0.75), ("short face tendency", 0.75, None), ("long face tendency", None, 0.65),
          note="posterior face height S-Go / anterior face height N-Me"),
    _isbi("FMA", "FMA (challenge definition)", SN_GOGN, "deg",
          ("normal", 26.8, 31.4), ("mandible high angle tendency", 31.4, None),
          ("mandible low angle tendency", None, 26.8),
          note="the challenge's FMA is the angle S-N to Go-Gn; Tweed's FMA (FH to Go-Me) is under tweed",
          display="FMA (SN-GoGn)"),
    _isbi("MW", "Modified Wits appraisal", Distance(L1, U1, sign_by_x=True), "mm",
          ("normal", 2.0, 4.5), ("edge to edge", 0.0, 0.0), ("anterior cross bite", None, 2.0),
          note="incisal tips U1-L1, negative when U1 is behind L1; C2 is exactly 0 mm and 0..2 mm "
               "counts as C3, as in the challenge's classification code",
          extra=(ClassRule("C4", "large overjet", 4.5, None),)),
    # -- Steiner -------------------------------------------------------------------------------------
    Measurement("SNA", "steiner", "SNA angle", SNA_, "deg", Norm(82, 2), STEINER),
    Measurement("SNB", "steiner", "SNB angle", SNB_, "deg", Norm(80, 2), STEINER),
    Measurement("ANB", "steiner", "ANB angle", ANB_, "deg", Norm(2, 2), STEINER,
                (ClassRule("I", "skeletal Class I", 0, 4), ClassRule("II", "skeletal Class II", 4, None),
                 ClassRule("III", "skeletal Class III", None, 0))),
    Measurement("SN-GoGn", "steiner", "Mandibular plane to SN", SN_GOGN, "deg", Norm(32, 5), STEINER),
    Measurement("U1-NA", "steiner", "Upper incisor to NA (angle)", LineAngle(U1A, U1, N, A, signed=True),
                "deg", Norm(22, 5), STEINER, note="incisor axis apex->tip; proclined > 0"),
    Measurement("U1-NA mm", "steiner", "Upper incisor to NA (distance)", Projected(N, U1, N, A, "normal"),
                "mm", Norm(4, 2), STEINER, note="incisal tip ahead of the N-A line > 0"),
    Measurement("L1-NB", "steiner", "Lower incisor to NB (angle)", LineAngle(N, B, L1, L1A, signed=True),
                "deg", Norm(25, 5), STEINER, note="incisor axis tip->apex; proclined > 0"),
    Measurement("L1-NB mm", "steiner", "Lower incisor to NB (distance)", Projected(N, L1, N, B, "normal"),
                "mm", Norm(4, 2), STEINER, note="incisal tip ahead of the N-B line > 0"),
    Measurement("U1-L1", "steiner", "Interincisal angle", LineAngle(U1, U1A, L1, L1A), "deg",
                Norm(131, 6), STEINER, note="between the incisor axes tip->root apex"),
    # -- Tweed triangle --------------------------------------------------------------------------------
    Measurement("FMA", "tweed", "Frankfort-mandibular plane angle", FH_MP, "deg", Norm(25, 5), TWEED,
                (ClassRule("normal", "normal", 20, 30), ClassRule("high", "high angle", 30, None),
                 ClassRule("low", "low angle", None, 20)), note="FH Po-Or to mandibular plane Go-Me"),
    Measurement("IMPA", "tweed", "Incisor-mandibular plane angle", IMPA_, "deg", Norm(90, 5), TWEED),
    Measurement("FMIA", "tweed", "Frankfort-mandibular incisor angle",
                SumOfAngles(((-1.0, FH_MP), (-1.0, IMPA_)), constant=180.0), "deg", Norm(65, 5), TWEED,
                note="180 - FMA - IMPA"),
    # -- Wits appraisal ----------------------------------------------------------------------------------
    Measurement("Wits", "wits", "Wits appraisal (AO-BO)",
                Projected(B, A, Mid(U6, L6), Mid(U1, L1), "along"), "mm", Norm(0.0, 1.8),
                "Jacobson, Am J Orthod 1975;67:125-138 (women 0 +- 1.77 mm; men -1 +- 1.9 mm)",
                note="A and B projected on the occlusal plane from the first molars' midpoint to the "
                     "incisal tips' midpoint (bisected occlusal plane); AO ahead of BO > 0"),
    # -- facial height ratios ------------------------------------------------------------------------------
    Measurement("S-Go/N-Me", "face_height", "Facial height ratio (Jarabak)",
                Ratio(Distance(S, Go), Distance(N, Me), 100.0), "%", Norm(63.5, 1.5),
                "Jarabak & Fizzell 1972: 62-65 % normal; below 59 % clockwise, above 65 % counter-clockwise",
                (ClassRule("normal", "normal", 59, 65), ClassRule("CW", "clockwise (vertical)", None, 59),
                 ClassRule("CCW", "counter-clockwise (horizontal)", 65, None))),
    Measurement("ANS-Me/N-Me", "face_height", "Lower anterior face height ratio",
                Ratio(Distance(ANS, Me), Distance(N, Me), 100.0), "%", Norm(55, 2),
                "Wylie & Johnson 1952 (lower face about 55 % of N-Me); SD: usual clinical tolerance"),
    # -- Bjork polygon -------------------------------------------------------------------------------------
    Measurement("N-S-Ar", "bjork", "Saddle angle", AngleAt(N, S, Ar), "deg", Norm(123, 5), BJORK),
    Measurement("S-Ar-Go", "bjork", "Articular angle", AngleAt(S, Ar, Go), "deg", Norm(143, 6), BJORK),
    Measurement("Ar-Go-Me", "bjork", "Gonial angle", AngleAt(Ar, Go, Me), "deg", Norm(130, 7), BJORK),
    Measurement("Bjork sum", "bjork", "Sum of the polygon angles",
                SumOfAngles(((1.0, AngleAt(N, S, Ar)), (1.0, AngleAt(S, Ar, Go)), (1.0, AngleAt(Ar, Go, Me)))),
                "deg", Norm(396, 6), BJORK),
)

ANALYSES: dict[str, str] = {
    "isbi2015": "ISBI 2015",
    "steiner": "Steiner",
    "tweed": "Tweed triangle",
    "wits": "Wits appraisal",
    "face_height": "Face height",
    "bjork": "Bjork polygon",
}
ISBI_EIGHT = ("ANB", "SNB", "SNA", "ODI", "APDI", "FHI", "FMA", "MW")


def select(analyses: list[str] | None = None) -> list[Measurement]:
    """The table rows of ``analyses`` (all when None), in table order; unknown names are an error."""
    if not analyses:
        return list(TABLE)
    unknown = [a for a in analyses if a not in ANALYSES]
    if unknown:
        raise ValueError(f"unknown analysis {', '.join(unknown)} (choose from {', '.join(ANALYSES)})")
    return [m for m in TABLE if m.analysis in analyses]
