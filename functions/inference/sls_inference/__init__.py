"""The inference function deployed by sls-deploy (this folder's parent is the Lambda CodeUri).

Light by design: numpy, onnxruntime and powertools Logger/Metrics only; never imports sls_deploy or boto3 on
the inference path. The sls_deploy CLI imports `sls_inference.loader` so that what it validates is what runs.
"""
