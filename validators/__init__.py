"""Pandera schemas for the contract's upload templates."""
