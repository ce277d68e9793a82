"""eotrust.store"""
