"""eotrust.nodes"""
