r"""Energy: from synaptic writes to joules, biology beside hardware.

* :mod:`spikegate.energy.pricing`: the maths of pricing a write (read-modify-write,
  Landauer, ATP, long-term memory) and the metabolic cost :math:`M_\alpha`;
* :mod:`spikegate.energy.catalogue`: the published figures (:class:`Technology`);
* :mod:`spikegate.energy.operations`: what a run computed (spikes, synaptic events, MACs)
  and NeuroBench-style metrics;
* :mod:`spikegate.energy.bill`: the whole bill, learning beside computing, per technology;
  its ``write`` rows are the report (the writes of runs priced, side by side), and
  :func:`~spikegate.energy.bill.summary` the short text of ``spikegate energy RUN_DIR``.
"""
from ..errors import EnergyError
from .catalogue import (BIOLOGY_REFERENCE, EVENT_BASES, EventCost, Technology, default_catalogue_path,
                        load_catalogue, load_events, parse_catalogue, select)
from .pricing import (BODY_TEMPERATURE, BOUNDARIES, COSTS, JOULE_PER_ATP, SYNAPSE_STATES, ATPCost, Landauer,
                      LongTermMemory, MetabolicModel, atp_energy, bits_per_synapse, check_bits, figure_energy,
                      landauer_energy, memory_energy_per_write, metabolic_cost, rmw_energy)
from .bill import (BASES, BILL_FIELDS, CSV_FIELDS, DEFAULT_COMPARE, LEARNING, bill, bill_curves, biology_reference,
                   brain_lines, check_abs_dw_per_write, check_bases, compare, energy_to_target, format_bill,
                   format_compare, format_report, format_written, plot_bill, plot_bill_curves, price, report, run_identity, run_labels,
                   run_metrics, summary, totals, weight_bits, write_bill, write_compare, write_report)
from .operations import footprint, format_footprint, format_neurobench, operation_counts

__all__ = [
    "EnergyError", "BIOLOGY_REFERENCE", "EVENT_BASES", "EventCost", "load_events", "Technology", "default_catalogue_path", "load_catalogue", "parse_catalogue",
    "select", "BODY_TEMPERATURE", "BOUNDARIES", "COSTS", "JOULE_PER_ATP", "SYNAPSE_STATES", "ATPCost", "Landauer",
    "LongTermMemory", "MetabolicModel", "atp_energy", "bits_per_synapse", "check_bits", "figure_energy",
    "landauer_energy", "memory_energy_per_write", "metabolic_cost", "rmw_energy", "CSV_FIELDS", "DEFAULT_COMPARE",
    "biology_reference", "compare", "format_compare", "format_report", "report", "write_compare", "write_report",
    "BASES", "BILL_FIELDS", "LEARNING", "bill", "bill_curves", "check_abs_dw_per_write", "check_bases",
    "energy_to_target", "format_bill", "plot_bill", "plot_bill_curves", "price", "totals", "write_bill",
    "format_neurobench", "operation_counts", "run_metrics", "brain_lines", "run_identity", "run_labels", "summary",
    "weight_bits", "footprint", "format_footprint", "format_written",
]
