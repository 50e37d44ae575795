"""Default CPU schedules: what makes untuned kernels fast on llvm targets."""
from .rules import default_schedule_pass, schedule_func

__all__ = ["default_schedule_pass", "schedule_func"]
