"""eotrust.workflow"""
