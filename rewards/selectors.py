def rewards_featured(*, limit: int = 4) -> list:
    """Featured rewards for the home page (the catalogue arrives with the rewards issue)."""
    return []
