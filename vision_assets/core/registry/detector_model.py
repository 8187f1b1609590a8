"""The registered model's pyfunc, saved as MLflow "model from code": this file travels inside the package, so
`mlflow.pyfunc.load_model("models:/<name>@champion")` works without the vision_assets repository (it needs
ultralytics and opencv only).

Input: a DataFrame with an `image` column, each a base64-encoded JPEG/PNG (or raw bytes). Output: one row per
detection: image_index, class_name, score, x1, y1, x2, y2 (pixels of the input image)."""

import base64

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

OUTPUT_COLUMNS = ["image_index", "class_name", "score", "x1", "y1", "x2", "y2"]


class YoloDetector(PythonModel):
    def load_context(self, context):
        import os

        os.environ.setdefault("YOLO_OFFLINE", "1")  # nothing is downloaded at load or predict time
        from ultralytics import YOLO

        # The evaluation's operating point (conf, iou, max_det, imgsz, class names), saved as the model config:
        # what is served is what was evaluated, with no default of its own.
        self.config = dict(context.model_config or {})
        self.model = YOLO(context.artifacts["weights"], task="detect")

    def predict(self, context, model_input, params=None):
        import cv2

        config = {**self.config, **(params or {})}
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame({"image": list(model_input)})
        images = []
        for value in frame["image"]:
            data = value if isinstance(value, bytes | bytearray) else base64.b64decode(value)
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if image is None:  # a plain ValueError: this file is served without vision_assets (no VisionError)
                raise ValueError(f"image {len(images)} is not a decodable JPEG or PNG")
            images.append(image)
        names = list(config.get("class_names") or [])
        rows = []
        results = self.model.predict(images, imgsz=int(config["imgsz"]), conf=float(config["conf"]),
                                     iou=float(config["iou"]), max_det=int(config["max_det"]),
                                     device=config.get("device", "cpu"), verbose=False) if images else []
        for index, result in enumerate(results):
            boxes = result.boxes
            for xyxy, score, cls in zip(boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy()):
                cls = int(cls)
                rows.append({"image_index": index, "class_name": names[cls] if cls < len(names) else str(cls),
                             "score": float(score), "x1": float(xyxy[0]), "y1": float(xyxy[1]),
                             "x2": float(xyxy[2]), "y2": float(xyxy[3])})
        return pd.DataFrame(rows, columns=OUTPUT_COLUMNS)


mlflow.models.set_model(YoloDetector())
