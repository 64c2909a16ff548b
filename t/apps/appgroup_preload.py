# appgroup_preload.py - a PyWorkerImportScript for a named application
# group: marks pywagshared in the interpreter it runs in.
import pywagshared

pywagshared.PRELOADED = True
