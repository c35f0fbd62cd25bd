#!/usr/bin/env python
# coding: utf8

""" Unit testing package. """

__email__ = "spleeter@deezer.com"
__author__ = "Deezer Research"
__license__ = "MIT License"
