r"""Energy: from synaptic writes to joules, biology beside hardware.

* :mod:`spikegate.energy.pricing`: the maths of pricing a write (read-modify-write,
  Landauer, ATP, long-term memory) and the metabolic cost :math:`M_\alpha`;
* :mod:`spikegate.energy.catalogue`: the published figures (:class:`Technology`);
* :mod:`spikegate.energy.report`: reports, comparisons, CSV files and figures of runs.
"""
from ..errors import EnergyError
from .catalogue import (BIOLOGY_REFERENCE, Technology, default_catalogue_path, load_catalogue, parse_catalogue,
                        select)
from .pricing import (BODY_TEMPERATURE, BOUNDARIES, COSTS, JOULE_PER_ATP, SYNAPSE_STATES, ATPCost, Landauer,
                      LongTermMemory, MetabolicModel, atp_energy, bits_per_synapse, check_bits, figure_energy,
                      landauer_energy, memory_energy_per_write, metabolic_cost, rmw_energy)
from .report import (CSV_FIELDS, DEFAULT_COMPARE, biology_reference, compare, compare_curves, format_compare,
                     format_report, plot_compare, plot_report, report, write_compare, write_report)

__all__ = [
    "EnergyError", "BIOLOGY_REFERENCE", "Technology", "default_catalogue_path", "load_catalogue", "parse_catalogue",
    "select", "BODY_TEMPERATURE", "BOUNDARIES", "COSTS", "JOULE_PER_ATP", "SYNAPSE_STATES", "ATPCost", "Landauer",
    "LongTermMemory", "MetabolicModel", "atp_energy", "bits_per_synapse", "check_bits", "figure_energy",
    "landauer_energy", "memory_energy_per_write", "metabolic_cost", "rmw_energy", "CSV_FIELDS", "DEFAULT_COMPARE",
    "biology_reference", "compare", "compare_curves", "format_compare", "format_report", "plot_compare",
    "plot_report", "report", "write_compare", "write_report",
]
