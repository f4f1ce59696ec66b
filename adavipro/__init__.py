__version__ = "0.1.0"

# Importing the package registers every method (timm's pattern): `adavipro.model` defines none, vp, adavipro and
# oracle; these modules add theirs to its `methods` (and `trainers`) registries.
from . import vpt, baselines   # vpt_shallow, vpt_deep; zero_shot, full_finetune, linear_probe
