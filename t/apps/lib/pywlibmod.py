# Importable only through python-path= / PyWorkerPythonPath.
VALUE = "pywlibmod from python-path"
