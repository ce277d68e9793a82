"""eotrust.ml"""
