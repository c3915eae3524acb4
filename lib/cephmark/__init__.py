"""cephmark: cephalometric landmark detection with the CL-Detection 2023 model, without MMPose."""
from cephmark.config import CephConfig

__version__ = "0.1.0"
__all__ = ["CephConfig", "__version__"]
