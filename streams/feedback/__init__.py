"""Outcome feedback to call centers: minimised outcomes and digests."""
