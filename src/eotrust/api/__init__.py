"""eotrust.api"""
