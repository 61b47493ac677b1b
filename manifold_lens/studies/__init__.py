"""Studies: a grid of runs from one TOML file, run as idempotent tasks on an executor.

:func:`run_study` checks a study file and runs what is missing into a study
directory (its layout: :mod:`.layout`), then computes and stores what the
study's claim needs (:mod:`.claims`); :func:`study_status` says where each run
stands; :func:`load_study` reads and checks a study file (or a bundled study,
by name; :func:`list_studies`) without running it; :func:`open_study` collects
a study directory into one Dataset (dim ``run``) and :func:`study_grid`
unstacks a complete grid. :func:`study_percolation_test` and
:func:`study_scaling_fits` compute and store a claim's computations;
:func:`read_claim` reads them back; :func:`refine_study` adds runs where a percolation study's onset
intervals are too wide (:mod:`.refine`).
"""

from .bundled import list_studies, studies_dir
from .claims import compute_claims, read_claim, scaling_fits, study_percolation_test, study_scaling_fits
from .collect import open_study, study_grid
from .layout import is_study
from .refine import refine_study
from .runner import run_study, study_status
from .spec import load_study
from .tasks import run_task

__all__ = ["is_study", "open_study", "study_grid", "run_study", "study_status", "load_study", "list_studies",
           "studies_dir", "run_task", "compute_claims", "read_claim", "scaling_fits", "study_percolation_test",
           "study_scaling_fits", "refine_study"]
