"""Studies: a grid of runs from one TOML file, run as idempotent tasks on an executor.

:func:`run_study` checks a study file and runs what is missing into a study
directory; :func:`study_status` says where each run stands;
:func:`load_study` reads and checks a study file (or a bundled study, by name; :func:`list_studies`)
without running it; :func:`open_study` collects a
study directory into one Dataset (dim ``run``) and :func:`study_grid` unstacks a complete grid.
"""

from .collect import is_study, open_study, study_grid
from .runner import run_study, study_status
from .bundled import list_studies, studies_dir
from .spec import load_study
from .tasks import run_task

__all__ = ["is_study", "open_study", "study_grid",
           "run_study", "study_status", "load_study", "list_studies", "studies_dir", "run_task"]
