"""The rules in the order they are tried, and the pass that applies them to a module."""
from __future__ import annotations

from ..tvm import tvm
from .contraction import schedule_contraction
from .int8 import schedule_int8
from .int8_depthwise import schedule_int8_depthwise
from .memory import schedule_injective, schedule_reduction

RULES = (schedule_int8, schedule_int8_depthwise, schedule_contraction, schedule_reduction,
         schedule_injective)


def default_schedule(func, target):
    """The schedule (with its trace) of the first rule that takes `func`, or None."""
    for rule in RULES:
        sch = tvm.s_tir.Schedule(func)
        try:
            if rule(sch, target):
                return sch
        except (tvm.s_tir.schedule.ScheduleError, tvm.error.InternalError):
            continue
    return None


def schedule_func(func, target):
    """The function scheduled by the first rule that takes it, or None (left as it is)."""
    sch = default_schedule(func, target)
    return None if sch is None else sch.mod["main"].with_attr("tirx.is_scheduled", True)


def default_schedule_pass(target):
    """A module pass scheduling every unscheduled PrimFunc it can."""

    @tvm.transform.module_pass(opt_level=0, name="AotDefaultCPUSchedule")
    def apply(mod, _ctx):
        updates = {}
        for gv, func in mod.functions_items():
            if isinstance(func, tvm.tirx.PrimFunc) and not func.attrs.get("tirx.is_scheduled"):
                new = schedule_func(func, target)
                if new is not None:
                    updates[gv] = new
        for gv, func in updates.items():
            mod[gv] = func
        return mod

    return apply
