"""eotrust.eo"""
