"""Agents: thin Mesa handles whose properties read and write a row of the model's columns."""

from agents.firms import DomesticSME, FDIFirm, Firm
from agents.institutions import Institution, TrainingCentre, University

__all__ = ["Firm", "FDIFirm", "DomesticSME", "Institution", "University", "TrainingCentre"]
