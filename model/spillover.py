"""Technology learning (ODD §7.4).

Every channel is gated by absorptive capacity (Cohen & Levinthal 1990): a firm with no engineers
or technicians learns nothing from anyone. Channels, per month:

    Δτ_i = AC_i · M_i · [ b·Σ_contracts intensity·g(gap)            backward linkage (eq. 4.2)
                          + d·Σ_l e^(−km/λ)·share_l·max(0, τ̄_l − τ_i)  demonstration (eq. 4.3)
                          + μ·movers_from_higher_τ·gap / L_i            labour mobility (eq. 4.4)
                          + u·quality(partner)                          university (eq. 4.5)
                          + r·R&D_i / revenue_i ]                       own R&D (eq. 4.6)
           − φ·τ_i                                                      frontier drift (eq. 4.7)

with g(gap) = (gap/g*)·exp(1 − gap/g*), an inverted U peaking at g* (Ni & Kato 2017), and M_i
the supplier-development multiplier while coached. Pure functions compute; ``learn`` applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from model import kernels, kernels_phases
from model.firms import LEAD

if TYPE_CHECKING:
    from model.cluster_model import ClusterModel


def absorptive_capacity(engineers: np.ndarray, technicians: np.ndarray, employees: np.ndarray,
                        skill_ref: float) -> np.ndarray:
    """AC in [0, 1]: share of engineers (+½ technicians) relative to a reference share (eq. 4.1)."""
    skilled = engineers + 0.5 * technicians
    share = np.divide(skilled, employees, out=np.zeros_like(skilled, dtype=float), where=employees > 0)
    return np.clip(share / skill_ref, 0.0, 1.0)


def gap_response(gap: np.ndarray, peak: float) -> np.ndarray:
    """Inverted U in the technology gap: 0 at no gap, 1 at ``peak``, falling for large gaps."""
    x = np.maximum(gap, 0.0) / peak
    return x * np.exp(1.0 - x)


def backward_learning(supplier: np.ndarray, intensity: np.ndarray, buyer_tech: np.ndarray,
                      supplier_tech: np.ndarray, peak: float, n: int) -> np.ndarray:
    """Σ over a supplier's contracts of intensity × g(buyer τ − supplier τ) (eq. 4.2)."""
    g = gap_response(buyer_tech - supplier_tech, peak)
    return np.bincount(supplier, weights=intensity * g, minlength=n)


def demonstration_pool(loc: np.ndarray, tech: np.ndarray, weight: np.ndarray, n_loc: int,
                       decay: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Employment-weighted mean τ and presence of foreign firms seen from each location.

    Returns (tau_seen[L], presence[L]): presence is the distance-decayed share of foreign employment
    (0–1); tau_seen its τ.
    """
    mass = np.bincount(loc, weights=weight, minlength=n_loc)
    tau_mass = np.bincount(loc, weights=weight * tech, minlength=n_loc)
    seen_mass = decay @ mass
    seen_tau = np.divide(decay @ tau_mass, seen_mass, out=np.zeros(n_loc), where=seen_mass > 0)
    presence = seen_mass / max(seen_mass.max(), 1e-12)
    return seen_tau, presence


def learn(m: ClusterModel, delivered: np.ndarray) -> None:
    """Apply one month of learning to every non-lead firm (lead firms sit at their parent's frontier)."""
    f = m.firms
    n = f.n
    emp = f.employees.astype(float)
    # demonstration pool: nearby foreign firms, decaying with distance
    fdi = f.alive[:n] & f.foreign[:n]
    seen_tau, presence = demonstration_pool(f.loc[:n][fdi], f.tech[:n][fdi], emp[fdi], len(m.geo.ids), m.demo_decay)
    if kernels.use_compiled():
        _learn_compiled(m, delivered, emp, seen_tau, presence)
    else:
        _learn_numpy(m, delivered, emp, seen_tau, presence)


def _learn_compiled(m: ClusterModel, delivered: np.ndarray, emp: np.ndarray, seen_tau: np.ndarray,
                    presence: np.ndarray) -> None:
    """``_learn_numpy`` in two compiled passes over the book and one over the firms (exp left to NumPy)."""
    f, p, book = m.firms, m.sc.learning, m.contracts
    n = f.n
    sales, pos, x, e = kernels_phases.backward_gaps(book.buyer, book.supplier, delivered, f.foreign, f.tech, n,
                                                    p.gap_peak)
    np.exp(e, out=e)
    backward = kernels_phases.backward_sums(book.supplier, delivered, sales, pos, x, e, n)
    coef = np.array([p.backward, p.demonstration, p.labour_mobility, p.university, p.rd_efficiency], dtype=float)
    chan_b, chan_d = kernels_phases.learning_update(
        f.tech, f.workers, emp, p.absorptive_skill_ref, backward, presence, seen_tau, f.loc, m.labour.knowledge_inflow,
        f.uni_partner, m.inst.quality, f.rd_spend, f.revenue, f.coached_until, m.month,
        float(m.policy.learning_multiplier), f.foreign, float(p.fdi_supplier_learning), f.alive, f.kind[:n] == LEAD,
        coef, m.sc.economy.frontier_growth / 12)
    m.learning_channels = {"backward": float(chan_b.mean()) if len(chan_b) else 0.0,
                           "demonstration": float(chan_d.mean()) if len(chan_d) else 0.0}


def _learn_numpy(m: ClusterModel, delivered: np.ndarray, emp: np.ndarray, seen_tau: np.ndarray,
                 presence: np.ndarray) -> None:
    """Every channel of eq. 4.1-4.7 for every firm, then τ updated for the learners."""
    f, p, book = m.firms, m.sc.learning, m.contracts
    n = f.n
    tech = f.tech[:n]
    workers = f.workers[:n]
    ac = absorptive_capacity(workers[:, 2].astype(float), workers[:, 1].astype(float), emp, p.absorptive_skill_ref)

    # backward linkage: buyers' τ through contracts, weighted by the contract's share of the supplier's sales;
    # only contracts with a foreign buyer and a supplier that sold something weigh (the others add 0)
    sales = np.bincount(book.supplier, weights=delivered, minlength=n)
    supplier_sales = sales[book.supplier]
    weigh = np.flatnonzero(f.foreign[book.buyer] & (supplier_sales > 0))
    buyer, supplier = book.buyer[weigh], book.supplier[weigh]
    backward = backward_learning(supplier, delivered[weigh] / supplier_sales[weigh], tech[buyer], tech[supplier],
                                 p.gap_peak, n)

    # demonstration: nearby foreign firms, decaying with distance
    demo = presence[f.loc[:n]] * np.maximum(seen_tau[f.loc[:n]] - tech, 0.0)

    # labour mobility: skilled movers from higher-τ firms last month
    inflow = np.zeros(n)
    carried = m.labour.knowledge_inflow[:n]  # last month's movers (firms born since carry none)
    inflow[: len(carried)] = carried
    mobility = inflow / np.maximum(emp, 1.0)

    # university collaboration and own R&D
    partner = f.uni_partner[:n]
    uni = np.zeros(n)
    linked = partner >= 0  # a scenario may have no institutions at all
    uni[linked] = m.inst.quality[partner[linked]]
    revenue = f.revenue[:n]
    rd = np.divide(f.rd_spend[:n], revenue, out=np.zeros(n), where=revenue > 0)

    gain = (p.backward * backward + p.demonstration * demo + p.labour_mobility * mobility
            + p.university * uni + p.rd_efficiency * rd)
    mult = np.where(f.coached_until[:n] >= m.month, m.policy.learning_multiplier, 1.0)
    mult = np.where(f.foreign[:n], p.fdi_supplier_learning, mult)
    drift = m.sc.economy.frontier_growth / 12 * tech
    delta = ac * mult * gain * (1 - tech) - drift
    learner = f.alive[:n] & (f.kind[:n] != LEAD)
    f.tech[:n] = np.where(learner, np.clip(tech + delta, 0.0, 1.0), tech)
    domestic = learner & ~f.foreign[:n]  # a scenario may have no domestic firms
    m.learning_channels = {
        "backward": float((ac * p.backward * backward)[domestic].mean()) if domestic.any() else 0.0,
        "demonstration": float((ac * p.demonstration * demo)[domestic].mean()) if domestic.any() else 0.0,
    }
