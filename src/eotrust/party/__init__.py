"""eotrust.party"""
