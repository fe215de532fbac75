"""Recurrent-network task pipelines on one shared spine (configs, runner, callbacks, export).

``pipelines.spine`` is what every task shares; ``pipelines.<task>`` is one package per task,
all of the same shape; ``pipelines.registry`` is the one list of tasks.
"""
