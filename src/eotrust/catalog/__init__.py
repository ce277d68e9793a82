"""eotrust.catalog"""
