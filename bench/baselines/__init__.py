"""Baseline servers the suite measures Hubbub against, each as small as the idea it stands for."""
