"""The baseline: a joblib model served by hand with FastAPI and uvicorn, as a tutorial would do it.

    python benchmarks/baseline_fastapi.py --model model.joblib --columns-json columns.json --port 8081

`columns.json` is the JSON list of the model's input columns, in order; without it the rows
are read as a float array (models fitted on numpy arrays).
"""

import argparse
import json

import joblib
import numpy as np
import pandas as pd
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel


class PredictRequest(BaseModel):
    instances: list


def create_app(model, columns: list) -> FastAPI:
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: PredictRequest):
        if columns is None:
            data = np.asarray(request.instances, dtype=float)
        else:
            data = pd.DataFrame(request.instances, columns=columns)
        return {"predictions": model.predict(data).tolist()}

    return app


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a joblib file")
    parser.add_argument("--columns-json", help="a JSON list of the input columns")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    columns = None
    if args.columns_json:
        with open(args.columns_json, encoding="utf-8") as file:
            columns = json.load(file)
    app = create_app(joblib.load(args.model), columns)
    uvicorn.run(app, host=args.host, port=args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
