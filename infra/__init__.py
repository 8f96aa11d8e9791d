"""Development-only infrastructure (never packaged into the Lambda function)."""
