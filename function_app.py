"""The Azure Functions app: composes the blueprints in functions/ and nothing else."""

import azure.functions as func

from functions.blueprints.directory import bp as directory

app = func.FunctionApp()
app.register_functions(directory)
