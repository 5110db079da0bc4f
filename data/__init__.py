"""The default dataset: the synthetic credit-risk generator (`python -m
data.generator`, see DATA_CARD.md) and the shipped dataset descriptions
(descriptions/*.yaml)."""
