"""The seed's Flask routes, as written.

Changes from the seed: the base URL and the project's id and publishable client key come from
the environment, the imports sit once at the top, and `app = Flask(__name__)` (which the seed
assumes) is created here.
"""

import os

import requests
import time
from flask import Flask, request, jsonify

BASE_URL = os.environ["KEYGATE_BASE_URL"]
stack_project_id = os.environ["STACK_PROJECT_ID"]
stack_publishable_client_key = os.environ["STACK_PUBLISHABLE_CLIENT_KEY"]

app = Flask(__name__)


@app.route('/api/create-user-api-key', methods=['POST'])
def create_user_api_key():
    access_token = request.cookies.get('stack-access-token')
    if not access_token:
        return jsonify({'error': 'Not authenticated'}), 401

    # Create API key via client API
    response = requests.post(
        BASE_URL + '/api/v1/user-api-keys',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': access_token,
        },
        json={
            'user_id': 'me',
            'description': 'My client application',
            'expires_at_millis': int((time.time() + 90 * 24 * 60 * 60) * 1000),
        }
    )

    if response.status_code != 200:
        return jsonify({'error': response.text}), response.status_code

    return jsonify(response.json())


@app.route('/api/teams/<team_id>/api-keys', methods=['POST'])
def create_team_api_key(team_id):
    access_token = request.cookies.get('stack-access-token')
    if not access_token:
        return jsonify({'error': 'Not authenticated'}), 401

    # Create team API key via client API
    response = requests.post(
        BASE_URL + '/api/v1/team-api-keys',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': access_token,
        },
        json={
            'team_id': team_id,
            'description': 'Team integration service',
            'expires_at_millis': int((time.time() + 60 * 24 * 60 * 60) * 1000),
        }
    )

    if response.status_code != 200:
        return jsonify({'error': response.text}), response.status_code

    return jsonify(response.json())


@app.route('/api/user-api-keys', methods=['GET'])
def list_user_api_keys():
    access_token = request.cookies.get('stack-access-token')
    if not access_token:
        return jsonify({'error': 'Not authenticated'}), 401

    # List user's API keys via client API
    response = requests.get(
        BASE_URL + '/api/v1/user-api-keys?user_id=me',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': access_token,
        }
    )

    if response.status_code != 200:
        return jsonify({'error': response.text}), response.status_code

    return jsonify(response.json())


@app.route('/api/user-api-keys/<api_key_id>', methods=['DELETE'])
def revoke_api_key(api_key_id):
    access_token = request.cookies.get('stack-access-token')
    if not access_token:
        return jsonify({'error': 'Not authenticated'}), 401

    # Revoke API key via client API (update with revoked: true)
    response = requests.patch(
        f'{BASE_URL}/api/v1/user-api-keys/{api_key_id}',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': access_token,
        },
        json={
            'revoked': True,
        }
    )

    if response.status_code != 200:
        return jsonify({'error': response.text}), response.status_code

    return jsonify({'message': 'API key revoked successfully'})


@app.route('/api/check-api-key/<api_key_id>', methods=['GET'])
def check_api_key_validity(api_key_id):
    access_token = request.cookies.get('stack-access-token')
    if not access_token:
        return jsonify({'error': 'Not authenticated'}), 401

    # Get API key details via client API
    response = requests.get(
        f'{BASE_URL}/api/v1/user-api-keys/{api_key_id}',
        headers={
            'x-stack-access-type': 'client',
            'x-stack-project-id': stack_project_id,
            'x-stack-publishable-client-key': stack_publishable_client_key,
            'x-stack-access-token': access_token,
        }
    )

    if response.status_code != 200:
        return jsonify({'error': 'API key not found'}), 404

    api_key = response.json()

    # Check if manually revoked
    if api_key.get('manually_revoked_at_millis'):
        return jsonify({
            'valid': False,
            'reason': 'manually-revoked'
        })

    # Check if expired
    if api_key.get('expires_at_millis'):
        if api_key['expires_at_millis'] < time.time() * 1000:
            return jsonify({
                'valid': False,
                'reason': 'expired'
            })

    return jsonify({'valid': True})
