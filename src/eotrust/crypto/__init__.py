"""eotrust.crypto"""
