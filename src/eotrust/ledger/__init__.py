"""eotrust.ledger"""
